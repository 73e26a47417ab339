from services.ingest.app import build
from shared.service import run
from shared.settings import get_settings

if __name__ == "__main__":  # not when a worker process (shared.budget) imports it again
    run("ingest", build, get_settings())
