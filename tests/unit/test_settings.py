from services.publish.subscriptions import new_secret
from shared.settings import Settings


def test_every_development_default_left_in_use_is_named():
    defaults = Settings().development_defaults()
    assert [d.split()[0] for d in defaults] == [
        "GONGKAI_PLATFORM_SECRET",
        "GONGKAI_ORGANISATION_CODE",
        "GONGKAI_RABBITMQ_URL",
    ]
    pushing = Settings(portal_push_url="https://cms.example/api").development_defaults()
    assert "GONGKAI_PORTAL_PUSH_SECRET" in " ".join(pushing)
    own = Settings(
        platform_secret=new_secret(),
        rabbitmq_url="amqp://gongkai:s3cret@mq:5672/",
        organisation_code="11440300MB2C92345X",
    )
    assert own.development_defaults() == []
