"""The `gongkai` console script against the real database."""

import json

from tests.support import run_cli


def test_each_new_identity_can_be_read_by_a_script(settings):
    answers = [
        run_cli(settings, "admin", "department", "add", "finance", "--name", "财政所", "--json"),
        run_cli(settings, "admin", "reviewer", "add", "张三", "--level", "1", "--json"),
        run_cli(settings, "admin", "operator", "add", "李四", "--json"),
    ]
    identities = [json.loads(a.stdout) for a in answers]
    assert [i["role"] for i in identities] == ["department", "reviewer", "operator"]
    assert identities[0]["name"] == "财政所" and identities[1]["level"] == 1
    assert all(len(i["token"]) > 20 for i in identities)
    plain = run_cli(settings, "admin", "operator", "add", "王五")
    assert plain.returncode == 0 and len(plain.stdout.splitlines()[-1]) > 20  # the token alone, last
