from services.publish.app import build
from shared.service import run
from shared.settings import get_settings

run("publish", build, get_settings())
