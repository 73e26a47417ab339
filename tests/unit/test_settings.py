import pytest
from pydantic import ValidationError

from services.publish.subscriptions import new_secret
from shared.settings import OfficeContact, Settings


def test_every_development_default_left_in_use_is_named():
    defaults = Settings().development_defaults()
    assert [d.split()[0] for d in defaults] == [
        "GONGKAI_PLATFORM_SECRET",
        "GONGKAI_ORGANISATION_CODE",
        "GONGKAI_OFFICE_CONTACT",
        "GONGKAI_RABBITMQ_URL",
    ]
    partly = Settings(office_contact={"phone": "0376-2100000"}).development_defaults()
    assert any("lacks disclosure_office, address, postcode, hours, fax, email" in d for d in partly)
    pushing = Settings(portal_push_url="https://cms.example/api").development_defaults()
    assert "GONGKAI_PORTAL_PUSH_SECRET" in " ".join(pushing)
    own = Settings(
        platform_secret=new_secret(),
        rabbitmq_url="amqp://gongkai:s3cret@mq:5672/",
        organisation_code="11440300MB2C92345X",
        office_contact=OfficeContact(
            disclosure_office="党政办",
            address="人民路1号",
            postcode="464200",
            hours="工作日",
            phone="0376-2100000",
            fax="0376-2100001",
            email="a@example.gov.cn",
        ),
    )
    assert own.development_defaults() == []


def test_the_guide_and_footer_settings_refuse_what_no_office_has():
    for wrong in (
        {"office_contact": {"postcode": "46420"}},
        {"office_contact": {"mobile": "1"}},
        {"site_identity": {"site_code": "41152"}},
    ):
        with pytest.raises(ValidationError):
            Settings(**wrong)
