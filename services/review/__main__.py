from services.review.app import build
from shared.service import run
from shared.settings import get_settings

run("review", build, get_settings())
