import pytest
from pydantic import ValidationError

from services.common.settings import Settings
from services.email.settings import EmailSettings


def test_api_keys_come_comma_separated(monkeypatch) -> None:
    monkeypatch.setenv("TASKYARD_API_KEYS", " a:k1 , b:k2:admin ,")
    assert Settings().api_keys == ("a:k1", "b:k2:admin")


def test_twelve_factor_names_are_read(monkeypatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:1/2")
    monkeypatch.setenv("DATABASE_URL", "postgresql://db/x")
    settings = Settings()
    assert (settings.redis_url, settings.database_url) == (
        "redis://example:1/2",
        "postgresql://db/x",
    )


@pytest.mark.parametrize(
    "limits",
    [
        {"task_time_limit": 3600, "visibility_timeout": 3600},
        {"task_soft_time_limit": 1800, "task_time_limit": 1800},
        {"retry_backoff_max_seconds": 3600},
    ],
)
def test_time_limits_must_stay_below_the_visibility_timeout(limits) -> None:
    with pytest.raises(ValidationError):
        Settings(**limits)


def test_the_longest_countdown_leaves_room_for_the_task_to_run() -> None:
    settings = Settings(visibility_timeout=600, task_time_limit=300, task_soft_time_limit=250)
    assert settings.max_countdown_seconds == 300


def test_an_email_domain_rate_of_zero_is_no_limit_and_below_zero_is_refused() -> None:
    assert EmailSettings(email_domain_rate=0).email_domain_rate == 0
    with pytest.raises(ValidationError):
        EmailSettings(email_domain_rate=-1)
