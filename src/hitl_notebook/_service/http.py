"""The HTTP API: a FastAPI router over the store, to mount in your own app, and a ready app.

Every endpoint is a thin view: it authenticates the caller, calls one store method and maps the
store's typed errors to status codes with the Python API's own messages:

======================  ====  ==============================================================
error                   code  meaning
======================  ====  ==============================================================
(no or unknown token)   401   authenticate with ``Authorization: Bearer <token>``
NotAllowedError         403   this identity may not answer this request (assignees, requester),
                              nor cancel a run whose open requests it may not answer
NotFoundError           404   no such run or request
NotWaitingError         409   the run waits for no answer (or for several: name one), or it
                              ended (done or failed) before a cancel
AlreadyDecidedError     409   someone answered first (or the votes decided already)
AlreadyVotedError       409   this identity has voted on this quorum request already
DeadlinePassedError     410   too late; recorded as late, the timeout rule applies
InvalidAnswerError      422   the answer does not fit the request; the agent keeps waiting
StaleAnswerError        422   the answer's ``digest`` names another tool call than the request
                              asks about (a stale form, a replayed link); nothing is stored
(body too long)         413   a body longer than 1 MiB
(body or parameter)     422   unknown fields (named), a value of the wrong type, or a body that
                              is not I-JSON or exceeds a limit (NaN, lone surrogates, integers
                              beyond 2^53, texts over 65,536 characters, nesting deeper than 32
                              levels: see ``_service.http_json``)
======================  ====  ==============================================================

Who answers is the authenticated identity, never a field of the body (``by`` is refused).
``GET /inbox`` is the inbox as a web page, for people without Jupyter (``_service.http_inbox``).
``create_app`` also serves answer links (``_service.http_links``: the token is the credential)
and Slack's button clicks (``_service.http_slack``: Slack's signature is), when configured. The
DBOS guide's shapes work as they are: ``POST /agents/{id}/respond`` with ``{"response":
"confirm"}`` and ``GET /agents/waiting``. Run states are people's words (``RunStateWord``). Tokens
are not logged.
"""

# No ``from __future__ import annotations`` here: FastAPI reads the endpoints' annotations at
# run time, and they refer to dependencies built inside ``create_router``.

from collections.abc import Callable, Sequence
from typing import Annotated, Any, NoReturn, TypeVar

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path, Query, status
from fastapi.responses import RedirectResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hitl_notebook._agent.workflow import agent_class
from hitl_notebook._core.errors import (
    AlreadyDecidedError,
    AlreadyVotedError,
    DeadlinePassedError,
    HitlError,
    InvalidAnswerError,
    NotAllowedError,
    NotFoundError,
    NotWaitingError,
)
from hitl_notebook._core.links import LinkKeys
from hitl_notebook._core.models import (
    Decision,
    Request,
    RequestKind,
    StatusEvent,
    run_state_word,
)
from hitl_notebook._core.notify import Directory
from hitl_notebook._core.times import parse_duration
from hitl_notebook._runtime.launch import current_or_none
from hitl_notebook._service.auth import Authenticate
from hitl_notebook._service.http_inbox import inbox_router
from hitl_notebook._service.http_json import IJSONRoute
from hitl_notebook._service.http_links import create_link_router
from hitl_notebook._service.http_models import (
    CHANNEL,
    MAX_QUERY_TEXT,
    TEXT_PATTERN,
    AnswerBody,
    BulkAnswerBody,
    BulkAnswered,
    ErrorDetail,
    ErrorResponse,
    ParseErrorResponse,
    QueryText,
    RunDetail,
    RunListing,
    RunSummary,
    StartBody,
    Started,
    ValidationErrorResponse,
    VoteBody,
    Voted,
    WaitingRequest,
)
from hitl_notebook._service.http_runs import cancel, run_detail, run_summaries
from hitl_notebook._service.http_slack import create_slack_router
from hitl_notebook._store.inbox import DEFAULT_SORT, InboxFilter, SortKey
from hitl_notebook._store.store import Store

__all__ = ["create_app", "create_router"]

T = TypeVar("T")

MAX_PAGE = 10_000
MAX_OFFSET = 1_000_000

_STATUS_OF: list[tuple[type[HitlError], int]] = [
    (NotAllowedError, status.HTTP_403_FORBIDDEN),
    (NotFoundError, status.HTTP_404_NOT_FOUND),
    (NotWaitingError, status.HTTP_409_CONFLICT),
    (AlreadyDecidedError, status.HTTP_409_CONFLICT),
    (AlreadyVotedError, status.HTTP_409_CONFLICT),
    (DeadlinePassedError, status.HTTP_410_GONE),
    (InvalidAnswerError, status.HTTP_422_UNPROCESSABLE_CONTENT),
]


# -- the router ----------------------------------------------------------------------------------

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorResponse, "description": "No token, or an unknown one."},
}
_BODY_ERRORS = _ERRORS | {
    400: {"model": ParseErrorResponse, "description": "The body is not JSON."},
    413: {"model": ErrorResponse, "description": "The body is longer than 1 MiB."},
    422: {"model": ValidationErrorResponse, "description": "The body does not validate."},
}
_READ_ERRORS = _ERRORS | {404: {"model": ErrorResponse, "description": "No such run."}}
_CANCEL_ERRORS = _READ_ERRORS | {
    403: {"model": ErrorResponse, "description": "This identity may not answer the run."},
    409: {"model": ErrorResponse, "description": "The run already ended (done or failed)."},
}
_ANSWER_ERRORS = _BODY_ERRORS | {
    403: {"model": ErrorResponse, "description": "This identity may not answer."},
    404: {"model": ErrorResponse, "description": "No such run or request."},
    409: {"model": ErrorResponse, "description": "Already decided, or not waiting."},
    410: {"model": ErrorResponse, "description": "The deadline has passed."},
    422: {"model": ValidationErrorResponse, "description": "The answer does not fit."},
}

RunIdPath = Annotated[str, Path(description="The run id.")]
RequestIdPath = Annotated[str, Path(description="The request id.")]


def create_router(
    store: Store,
    auth: Authenticate,
    *,
    agents: Sequence[str] | None = None,
    anonymous_reads: bool = False,
) -> APIRouter:
    """A FastAPI router over ``store``: mount it with ``app.include_router(router, prefix=...)``.

    ``auth`` maps a bearer token to an identity (``TokenAuth`` or your identity provider).
    ``agents``: the agent names ``POST /agents`` may start (default: any). Writes always need
    a token; reads too unless ``anonymous_reads``. ``POST /agents`` starts a run in this
    process when the agent's class is defined here (and the runtime is launched on the same
    database); otherwise it queues the run for ``hitl worker`` processes.

    >>> from fastapi import FastAPI
    >>> from hitl_notebook.http import TokenAuth, create_router
    >>> app = FastAPI()
    >>> app.include_router(create_router(hitl.connect(url), TokenAuth.from_env()), prefix="/hitl")
    """
    bearer = HTTPBearer(auto_error=False, description="A token mapped to an identity.")

    def identify(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str:
        identity = auth(credentials.credentials) if credentials is not None else None
        if identity is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                detail=ErrorDetail(
                    error="Unauthorized",
                    message="Send a valid token: Authorization: Bearer <token>.",
                ).model_dump(),
                headers={"WWW-Authenticate": "Bearer"},
            )
        return identity

    def reader(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> str | None:
        return None if anonymous_reads else identify(credentials)

    Caller = Annotated[str, Depends(identify)]
    Reader = Annotated[str | None, Depends(reader)]
    router = APIRouter(tags=["hitl"], route_class=IJSONRoute)

    @router.post(
        "/agents",
        status_code=status.HTTP_201_CREATED,
        responses=_BODY_ERRORS | {404: {"model": ErrorResponse, "description": "Unknown agent."}},
    )
    def start_agent(body: StartBody, caller: Caller) -> Started:
        """Start a run; the caller is recorded as its requester."""
        if agents is not None and body.agent not in agents:
            _fail(NotFoundError(f"No agent named {body.agent!r} can be started here."))
        cls = agent_class(body.agent)
        runtime = current_or_none()
        if cls is not None and runtime is not None and runtime.database.url == store.database.url:
            handle = cls.start(*body.args, run_id=body.run_id, requester=caller, **body.kwargs)
            return Started(run_id=handle.id, agent=body.agent, queued=False, requester=caller)
        run_id = store.enqueue(
            body.agent, *body.args, run_id=body.run_id, requester=caller, **body.kwargs
        )
        return Started(run_id=run_id, agent=body.agent, queued=True, requester=caller)

    @router.get("/agents", responses=_ERRORS)
    def list_agents(
        _: Reader,
        agent: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=MAX_QUERY_TEXT)] = None,
        listing: Annotated[
            RunListing | None,
            Query(
                alias="status",
                description="Only these runs: waiting (for a human, parked ones included), "
                "running (not ended, not waiting for a human), done, failed or cancelled.",
            ),
        ] = None,
    ) -> list[RunSummary]:
        """Every run, oldest first, with its current status and the agent's own."""
        return run_summaries(store, agent, listing)

    @router.get("/agents/waiting", responses=_ERRORS)
    def list_waiting_agents(
        _: Reader,
        agent: Annotated[str | None, Query(pattern=TEXT_PATTERN, max_length=MAX_QUERY_TEXT)] = None,
    ) -> list[RunSummary]:
        """The runs waiting for a human, oldest first: the DBOS guide's path, the same list as
        ``GET /agents?status=waiting`` (so the detail of a run whose id is "waiting" is not
        served here: read its requests)."""
        return run_summaries(store, agent, "waiting")

    @router.get("/agents/{run_id}", responses=_READ_ERRORS)
    def get_agent(run_id: RunIdPath, _: Reader) -> RunDetail:
        """One run: its state, current status, the agent's own status and its requests, and
        once it has ended its result or its error (this never waits for the run)."""
        return _call(lambda: run_detail(store, run_id))

    @router.get("/agents/{run_id}/history", responses=_READ_ERRORS)
    def get_history(run_id: RunIdPath, _: Reader) -> list[StatusEvent]:
        """A run's status transitions, in order."""
        _call(lambda: store.run_state(run_id))
        return store.history(run_id)

    @router.get("/agents/{run_id}/decisions", responses=_READ_ERRORS)
    def get_decisions(run_id: RunIdPath, _: Reader) -> list[Decision]:
        """The decisions taken on a run's requests, oldest first."""
        _call(lambda: store.run_state(run_id))
        return [r.decision for r in store.requests(run_id) if r.decision is not None]

    @router.post("/agents/{run_id}/respond", responses=_ANSWER_ERRORS)
    def respond_to_agent(run_id: RunIdPath, body: AnswerBody, caller: Caller) -> Decision:
        """Answer the one request a run waits for, as the authenticated caller (the DBOS
        guide's ``{"response": "confirm"}`` works too)."""
        return _answer(store, run_id, body, caller)

    @router.post("/agents/{run_id}/cancel", responses=_CANCEL_ERRORS)
    def cancel_agent(run_id: RunIdPath, caller: Caller) -> RunDetail:
        """Cancel a run, as the authenticated caller (who must be allowed to answer its open
        requests); its open requests close. Returns the run's detail. A cancelled run cancelled
        again is 200 (a retry is harmless); a run that is done or failed is 409."""
        return _call(lambda: cancel(store, run_id, caller))

    @router.get(
        "/requests",
        responses=_ERRORS | {422: {"model": ValidationErrorResponse, "description": "Bad filter."}},
    )
    def list_requests(  # every filter is a query parameter
        *,
        _: Reader,
        agent: Annotated[list[QueryText] | None, Query(description="Only these agents.")] = None,
        kind: Annotated[list[RequestKind] | None, Query(description="Only these kinds.")] = None,
        assignee: Annotated[
            str | None, Query(pattern=TEXT_PATTERN, max_length=MAX_QUERY_TEXT)
        ] = None,
        overdue: bool | None = None,
        older_than: Annotated[
            str | None,
            Query(
                description="Asked at least this long ago: 30m, 1h, 2d.",
                max_length=MAX_QUERY_TEXT,
            ),
        ] = None,
        search: Annotated[
            str | None, Query(pattern=TEXT_PATTERN, max_length=MAX_QUERY_TEXT)
        ] = None,
        sort: SortKey = DEFAULT_SORT,
        descending: bool = False,
        limit: Annotated[int | None, Query(ge=0, le=MAX_PAGE)] = None,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> list[WaitingRequest]:
        """The requests waiting for a human (the inbox), filtered, sorted and paged."""
        age = None
        if older_than is not None:
            age = _call(lambda: parse_duration(older_than), about="older_than")
        waiting = _call(
            lambda: store.read_inbox(
                InboxFilter(
                    agent=agent,
                    kind=[k.value for k in kind] if kind else None,
                    assignee=assignee,
                    overdue=overdue,
                    older_than=age,
                    search=search,
                    sort=sort,
                    descending=descending,
                    limit=limit,
                    offset=offset,
                )
            )
        )
        return [
            WaitingRequest(
                **{k: v for k, v in item.to_dict().items() if k not in {"time_left", "run_state"}},
                seconds_left=None if item.time_left is None else item.time_left.total_seconds(),
                run_state=run_state_word(item.run_state, waiting=True),
                tool=item.rules.get("tool"),
                quorum=item.quorum,
                votes=list(item.votes),
            )
            for item in waiting
        ]

    @router.get("/requests/{request_id}", responses=_READ_ERRORS)
    def get_request(request_id: RequestIdPath, _: Reader) -> Request:
        """One request, open or decided."""
        return _call(lambda: store.request(request_id))

    @router.post("/requests/respond", responses=_BODY_ERRORS)
    def respond_to_many(body: BulkAnswerBody, caller: Caller) -> BulkAnswered:
        """Give the same answer to many requests, each on its own; refusals are listed."""
        result = store.answer_many(body.targets, body.reply(caller))
        return BulkAnswered(
            decided=result.decided,
            failed={
                target: ErrorDetail(error=type(error).__name__, message=str(error))
                for target, error in result.failed.items()
            },
        )

    @router.post("/requests/{request_id}/respond", responses=_ANSWER_ERRORS)
    def respond_to_request(request_id: RequestIdPath, body: AnswerBody, caller: Caller) -> Decision:
        """Answer one request by its id, as the authenticated caller."""
        return _answer(store, request_id, body, caller)

    _add_vote_route(router, store, Caller)
    router.include_router(inbox_router(store, identify))  # the inbox as a web page: /inbox
    return router


def _add_vote_route(router: APIRouter, store: Store, caller_type: Any) -> None:
    """``POST /requests/{id}/votes``: a vote on a request that needs several approvals."""

    @router.post("/requests/{request_id}/votes", responses=_ANSWER_ERRORS)
    def vote_on_request(request_id: RequestIdPath, body: VoteBody, caller: caller_type) -> Voted:
        """Vote on a request that needs several approvals, as the authenticated caller."""
        return Voted.of(
            _call(
                lambda: store.vote(
                    request_id,
                    approve=body.approve,
                    by=caller,
                    comment=body.comment,
                    channel=CHANNEL,
                    digest=body.digest,
                )
            )
        )


def create_app(
    store: Store,
    auth: Authenticate,
    *,
    agents: Sequence[str] | None = None,
    anonymous_reads: bool = False,
    link_keys: LinkKeys | None = None,
    slack_signing_secret: str | None = None,
    directory: Directory | None = None,
) -> FastAPI:
    """A ready FastAPI app serving ``create_router`` at the root (what ``hitl serve`` runs).

    ``link_keys``: also serve answer links (``/a/{token}``, see ``_service.http_links``);
    ``slack_signing_secret``: also take Slack's button clicks (``/slack/actions``, see
    ``_service.http_slack``), mapping Slack users to people with ``directory`` (default: the one
    configured in this process).
    """
    app = FastAPI(
        title="hitl_notebook",
        summary="Start agents, list the requests waiting for a human, answer them.",
    )
    app.include_router(create_router(store, auth, agents=agents, anonymous_reads=anonymous_reads))
    if link_keys is not None:
        app.include_router(create_link_router(store, link_keys))
    if slack_signing_secret is not None:
        app.include_router(create_slack_router(store, slack_signing_secret, directory=directory))

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        """The inbox page, for a person who opens the server's address."""
        return RedirectResponse("inbox")

    return app


def _answer(store: Store, target: str, body: AnswerBody, caller: str) -> Decision:
    return _call(lambda: store.answer(target, body.reply(caller)))


def _call(fn: Callable[[], T], *, about: str | None = None) -> T:
    """Call the store; its typed errors become HTTP errors with the same message (a ValueError's
    prefixed with the parameter it is ``about``)."""
    try:
        return fn()
    except HitlError as error:
        _fail(error)
    except ValueError as error:
        message = str(error) if about is None else f"{about}: {error}"
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=ErrorDetail(error="ValueError", message=message).model_dump(),
        ) from None


def _fail(error: HitlError) -> NoReturn:
    code = next((code for kind, code in _STATUS_OF if isinstance(error, kind)), 400)
    raise HTTPException(
        code, detail=ErrorDetail(error=type(error).__name__, message=str(error)).model_dump()
    )
