from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from services.common.jobs.keys import QueueKeys
from services.common.jobs.model import Job, JobStatus, decode, encode

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(
    status=st.sampled_from(JobStatus),
    progress=st.floats(0, 1),
    payload=st.dictionaries(st.text(), json_values, max_size=4),
    error=st.none() | st.text(min_size=1),
)
def test_a_job_survives_the_hash_encoding(status, progress, payload, error) -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    job = Job(
        id="j",
        task="t.x",
        tenant="alpha",
        status=status,
        progress=progress,
        created_at=now,
        updated_at=now,
        payload=payload,
        error=error,
    )
    assert decode(encode(job.model_dump())) == job


def test_keys_live_under_the_service_prefix() -> None:
    keys = QueueKeys("taskyard", "ingest")
    assert keys.prefix == "taskyard:ingest:"
    assert keys.queue_list == "taskyard:ingest:ingest"
    assert keys.job("1") == "taskyard:ingest:job:1"
    assert keys.dead_letters == "taskyard:ingest:dead"
    hashed = keys.idempotency("alpha", "any\nstring at all")
    assert hashed.startswith("taskyard:ingest:idem:alpha:")
    assert "\n" not in hashed
