"""RFC 9457 problem details: the only shape an error ever reaches a client in."""

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = structlog.get_logger(__name__)
MEDIA_TYPE = "application/problem+json"


class FieldError(BaseModel):
    field: str
    reason: str


class ProblemDetail(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] | None = None


class Problem(Exception):
    """Raised by handlers to answer with a problem; `title` is the short, fixed summary."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
        errors: list[FieldError] | None = None,
    ):
        super().__init__(detail or title)
        self.status, self.title, self.detail, self.headers = status, title, detail, headers
        self.errors = errors


def problem_response(
    status: int,
    title: str,
    detail: str | None = None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ProblemDetail(title=title, status=status, detail=detail, errors=errors)
    return JSONResponse(
        body.model_dump(exclude_none=True), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part not in ("body",)]
        errors.append(FieldError(field=".".join(location) or "body", reason=error.get("msg", "invalid")))
    return errors


async def _on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return problem_response(400, "Malformed JSON", "The request body is not valid JSON.")
    return problem_response(
        422, "Invalid request", "One or more fields are invalid.", errors=_field_errors(exc)
    )


async def _on_problem(_: Request, exc: Problem) -> JSONResponse:
    return problem_response(exc.status, exc.title, exc.detail, errors=exc.errors, headers=exc.headers)


TITLES = {
    400: "Malformed request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    429: "Too many requests",
    503: "Not ready",
}
WRITES = {"post", "put", "patch", "delete"}
DATABASE_RETRY_SECONDS = 5
ROUTINE = (400, 401, 403, 404, 409, 413, 415, 422, 429)  # what routers declare; narrowed per operation


ALSO_ANSWERS = "x-also-answers"  # openapi_extra of a route: problem statuses beyond the routine ones


def answers_of(operation: dict, path: str, method: str, rate_limited: bool) -> set[int]:
    """The problem answers an operation can really give, from what it takes."""
    # What a route says it answers beside these (a read refused by what is stored: 409).
    statuses = set(operation.pop(ALSO_ANSWERS, []))
    statuses.add(503)  # every operation reads or writes the database, which may be out of reach
    if operation.get("security"):
        statuses |= {401, 403}
    if "{" in path:
        statuses.add(404)
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses |= {400, 413, 415}
    if method in WRITES and ("{" in path or "requestBody" in operation):
        statuses.add(409)  # a write the stored state refuses (a status, a reused key, a taken file)
    if method in WRITES and rate_limited and operation.get("security"):
        statuses.add(429)
    return statuses


def document(schema: dict, rate_limited: bool) -> dict:
    """Each operation's problem answers narrowed to those it can give (routers declare them all,
    which also puts ProblemDetail in the components)."""
    for path, item in schema.get("paths", {}).items():
        for method, operation in item.items():
            wanted = answers_of(operation, path, method, rate_limited)
            responses = operation.setdefault("responses", {})
            for status in ROUTINE:
                if status not in wanted:
                    responses.pop(str(status), None)
            for status in wanted:
                responses.setdefault(str(status), _problem_response(status))
    return schema


def _problem_response(status: int) -> dict:
    schema = {"$ref": "#/components/schemas/ProblemDetail"}
    return {"description": TITLES[status], "content": {MEDIA_TYPE: {"schema": schema}}}


def declared(*statuses: int) -> dict:
    """The OpenAPI `responses` of problem answers, so that clients (and the fuzzer) know them."""
    ref = {"$ref": "#/components/schemas/ProblemDetail"}
    return {
        s: {"model": ProblemDetail, "description": TITLES[s], "content": {MEDIA_TYPE: {"schema": ref}}}
        for s in statuses
    }


METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route answers at this path (Starlette's 405 names only one route's)."""
    allowed = {"OPTIONS"}
    for method in METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes):
            allowed.add(method)
    if "GET" in allowed:
        allowed.add("HEAD")
    return sorted(allowed)


async def _on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if exc.status_code == 405:
        allow = {"Allow": ", ".join(allowed_methods(request))}
        if request.method == "OPTIONS":  # what a client may do here, not a refusal
            return Response(status_code=204, headers=allow)
        detail = f"{request.method} is not allowed here; {allow['Allow']} are."
        return problem_response(405, TITLES[405], detail, headers=allow)
    title = TITLES.get(exc.status_code, "Request refused")
    detail = str(exc.detail) if exc.detail else None
    return problem_response(exc.status_code, title, detail, headers=getattr(exc, "headers", None))


async def _on_database_out(request: Request, exc: ConnectionFailure) -> JSONResponse:
    """The database out of reach (down, restarting, the network): the caller is told to come
    back, never that the service broke."""
    log.warning("database unreachable", path=request.url.path, error=type(exc).__name__)
    detail = "The database cannot be reached just now; try again shortly."
    return problem_response(503, "Unavailable", detail, headers={"Retry-After": str(DATABASE_RETRY_SECONDS)})


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error", path=request.url.path)
    return problem_response(500, "Internal error", "The error was logged; nothing is shown here.")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(ConnectionFailure, _on_database_out)
    app.add_exception_handler(Exception, on_unexpected)
