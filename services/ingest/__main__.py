from services.ingest.app import build
from shared.service import run
from shared.settings import get_settings

run("ingest", build, get_settings())
