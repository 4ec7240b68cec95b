import pytest

from services.common.api.auth import ApiKeys, Principal


def test_keys_map_to_tenants_and_the_admin_flag() -> None:
    keys = ApiKeys(["alpha:k1", "ops:k2:admin"])
    assert keys.authenticate("k1") == Principal("alpha", admin=False)
    assert keys.authenticate("k2") == Principal("ops", admin=True)
    assert keys.authenticate("k3") is None
    assert keys.authenticate("") is None


@pytest.mark.parametrize(
    "entry", ["Zsecret9", "t:", ":Zsecret9", "t:Zsecret9:root", "t:Zsecret9:admin:x"]
)
def test_a_malformed_entry_is_refused_without_echoing_the_secret(entry) -> None:
    with pytest.raises(ValueError, match="entry 2") as error:
        ApiKeys(["ok:fine", entry])
    assert "Zsecret9" not in str(error.value)


def test_only_digests_are_kept() -> None:
    keys = ApiKeys(["alpha:plain-secret"])
    assert "plain-secret" not in repr(vars(keys))


def test_admins_see_every_tenant_and_tenants_only_their_own() -> None:
    assert Principal("ops", admin=True).may_see("alpha")
    assert Principal("alpha").may_see("alpha")
    assert not Principal("beta").may_see("alpha")
