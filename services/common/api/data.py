"""The data store for APIs that have one: an engine opened with the app, and its dependency."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Annotated

from anyio import to_thread
from fastapi import Depends, FastAPI, Request
from sqlalchemy import Engine

from services.common.db import create_data_engine


def data_store(
    database_url: str, create_schema: Callable[[Engine], None]
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's resources: the engine, with the service's tables created if missing."""

    @asynccontextmanager
    async def open_store(app: FastAPI) -> AsyncIterator[None]:
        app.state.engine = create_data_engine(database_url)
        await to_thread.run_sync(create_schema, app.state.engine)
        yield
        app.state.engine.dispose()

    return open_store


async def data_engine(request: Request) -> Engine:  # a coroutine: no thread-pool hop (auth.py)
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(data_engine)]
