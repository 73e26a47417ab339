from shared.settings import Settings
from tests.support import ROOT


def test_the_readme_documents_every_setting():
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`GONGKAI_{name.upper()}`" not in readme]
    assert missing == []


def test_the_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make up" in readme and "make test" in readme
