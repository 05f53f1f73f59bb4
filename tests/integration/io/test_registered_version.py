"""A registered version looked up for lineage: a missing one is one clear error."""

import pytest

from nightjar.core.errors import RegistryError
from nightjar.core.settings import Settings
from nightjar.io import tracking


def test_a_version_the_registry_does_not_hold_names_itself_and_the_store(tmp_path):
    settings = Settings(home=tmp_path)
    with pytest.raises(RegistryError) as missing:
        tracking.registered_version(settings, "credit_default", "7")
    message = str(missing.value)
    assert message.startswith("credit_default v7 is not in the registry at sqlite:///")
    assert "\n" not in message
