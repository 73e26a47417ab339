from services.stats.app import build
from shared.service import run
from shared.settings import get_settings

run("stats", build, get_settings())
