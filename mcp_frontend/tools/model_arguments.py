"""Tools whose arguments are one pydantic model's fields.

The SDK derives a tool's input schema (and the model it validates a call with) from the tool function's
signature, so `arguments_from` gives the function a signature made of the model's fields, with their types,
defaults, bounds and descriptions as the model declares them, and hands the function's body the model.
"""

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, get_type_hints

from pydantic import BaseModel

ModelT = TypeVar("ModelT", bound=BaseModel)
ResultT = TypeVar("ResultT")


def arguments_from(
    model: type[ModelT],
) -> Callable[[Callable[[ModelT], Awaitable[ResultT]]], Callable[..., Awaitable[ResultT]]]:
    """Make `async def name(request: model) -> Result` a tool function taking model's fields as arguments."""

    def decorate(body: Callable[[ModelT], Awaitable[ResultT]]) -> Callable[..., Awaitable[ResultT]]:
        async def tool(**arguments: Any) -> ResultT:
            return await body(model(**arguments))

        returns = get_type_hints(body)["return"]
        # The field's FieldInfo as the parameter's default, as in pydantic's `x: T = Field(...)`: all kept.
        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = [
            inspect.Parameter(name, keyword, annotation=field.annotation, default=field)
            for name, field in model.model_fields.items()
        ]
        tool.__signature__ = inspect.Signature(parameters, return_annotation=returns)
        tool.__annotations__ = {**{p.name: p.annotation for p in parameters}, "return": returns}
        # The tool's name, and the SDK's title of its arguments (`<name>Arguments`).
        tool.__name__ = tool.__qualname__ = body.__name__
        tool.__doc__ = body.__doc__
        return tool

    return decorate
