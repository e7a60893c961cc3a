"""Bounds on one GraphQL request, so that no document can stall the manager.

Parsing, validating and executing a document is Python work; a 10,000-alias query once held
the event loop for 12.9 s. Each step is bounded before the next one runs:

1. the body and the query text by their size in bytes (``api/gql.py``, before decoding);
2. the text by its number of tokens and how deeply its brackets nest, in one linear pass of
   the lexer before the (recursive) parser sees it;
3. the parsed document by its fields, aliases, depth and repeated fields *as executed*, that
   is with every fragment spread counted where it is used: computed once per fragment, so a
   document whose fragments spread each other twice over (a "fragment bomb") is measured in
   linear time, and refused before graphql-core's validation rules (one of them quadratic in
   the fields that share a name) walk it;
4. introspection by graphql-core's ``MaxIntrospectionDepthRule`` (``types{fields{type{fields
   ...}}}`` grows the answer exponentially while the document stays small);
5. execution by the rows it may return and by a time budget (``GQLContext`` and ``api/gql.py``).

Steps 2 to 4 run in a small thread pool, not on the event loop. Strawberry's
``QueryDepthLimiter`` and ``MaxAliasesLimiter`` are not used: they expand every fragment spread
again at each use, and a 1.2 KB document of 22 fragments kept them busy for 17 s.
``MaxTokensLimiter`` is replaced by step 2, which also bounds nesting.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    Lexer,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    parse,
)
from graphql.error import GraphQLSyntaxError
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document
from strawberry.types import ExecutionContext

from backendai.common import errors

MAX_BODY_BYTES = 1024 * 1024  # the JSON body: query, variables and operation name
MAX_QUERY_BYTES = 32 * 1024
MAX_TOKENS = 2000  # the introspection query has 163
MAX_NESTING = 32  # brackets of any kind: selection sets, arguments, list and object values
MAX_DEPTH = 16  # field nesting, leaves included; the introspection query needs 15
MAX_FIELDS = 600  # fields executed, fragments expanded; the introspection query has 220
MAX_ALIASES = 30
MAX_REPEATS = 10  # one response name in one selection set
MAX_ROWS = 5000  # list items one query may return, all list fields together
TIME_BUDGET_S = 10.0

_OPEN = {TokenKind.BRACE_L, TokenKind.PAREN_L, TokenKind.BRACKET_L}
_CLOSE = {TokenKind.BRACE_R, TokenKind.PAREN_R, TokenKind.BRACKET_R}
_STRINGS = {TokenKind.STRING, TokenKind.BLOCK_STRING}
_CAP = 10**9  # counts saturate here: a fragment bomb's size is "too big", not a huge integer

T = TypeVar("T")
R = TypeVar("R")


def too_complex(msg: str) -> GraphQLError:
    """A limit error as GraphQL reports it, carrying the platform error (and so its code)."""
    return GraphQLError(msg, original_error=errors.GraphQLError(msg))


def check_text(query: str) -> None:
    """Tokens and bracket nesting, counted by the lexer alone (no recursion). A syntax error
    stops the count: the parser reports it."""
    lexer = Lexer(Source(query))
    tokens = nesting = 0
    try:
        while (token := lexer.advance()).kind is not TokenKind.EOF:
            tokens += 1
            if tokens > MAX_TOKENS:
                raise too_complex(
                    f"The query has more than {MAX_TOKENS} tokens; ask for less in one query."
                )
            if token.kind in _OPEN:
                nesting += 1
                if nesting > MAX_NESTING:
                    raise too_complex(
                        f"The query nests brackets more than {MAX_NESTING} deep; "
                        "ask for less in one query."
                    )
            elif token.kind in _CLOSE:
                nesting -= 1
            elif token.kind in _STRINGS and _unstorable(token.value or ""):
                # The escapes \u0000 and lone \ud800 decode to text no database column takes
                # (PostgreSQL refuses NUL): a clear refusal here, not a driver error later.
                msg = "A string in the query contains a NUL or an unpaired surrogate; remove it."
                raise GraphQLError(msg, original_error=errors.InvalidRequest(msg))
    except GraphQLSyntaxError:
        return


def _unstorable(text: str) -> bool:
    return "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@dataclass(frozen=True, slots=True)
class Cost:
    """What a selection set makes the executor (and the validator) do, fragments expanded."""

    fields: int = 0
    aliases: int = 0
    depth: int = 0
    # The most fields sharing one response name in one selection set: graphql-core compares
    # such fields pairwise (OverlappingFieldsCanBeMerged), so their number is squared.
    repeats: int = 0

    def beside(self, other: Cost) -> Cost:
        """This and ``other`` in one selection set."""
        return Cost(
            min(self.fields + other.fields, _CAP),
            min(self.aliases + other.aliases, _CAP),
            max(self.depth, other.depth),
            max(self.repeats, other.repeats),
        )


class _Measure:
    """Costs of selection sets, each fragment's computed once (dependencies first)."""

    def __init__(self, document: DocumentNode) -> None:
        self.defs = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.fragments: dict[str, tuple[Cost, Counter[str]]] = {}
        self._fragment_costs()

    def selection(self, selections: SelectionSetNode | None) -> tuple[Cost, Counter[str]]:
        """The cost of a selection set and the response names at its own level."""
        total, names = Cost(), Counter[str]()
        for sel in selections.selections if selections else ():
            if isinstance(sel, FieldNode):
                inner, _ = self.selection(sel.selection_set)
                names[(sel.alias or sel.name).value] += 1
                own = Cost(1, 1 if sel.alias else 0, inner.depth + 1, inner.repeats)
                total = total.beside(own).beside(replace(inner, depth=0))
                continue
            if isinstance(sel, InlineFragmentNode):
                cost, more = self.selection(sel.selection_set)
            elif isinstance(sel, FragmentSpreadNode):
                # Unknown fragments and cycles count as nothing; graphql-core reports them.
                cost, more = self.fragments.get(sel.name.value, (Cost(), Counter[str]()))
            else:  # pragma: no cover - no other selection kinds exist
                continue
            total = total.beside(cost)
            names.update(more)
        return replace(total, repeats=max(total.repeats, *names.values(), 0)), names

    def _fragment_costs(self) -> None:
        """Dependencies first, with an explicit stack: fragment chains may be long."""
        visiting: set[str] = set()
        for root in self.defs:
            stack = [(root, iter(list(_spreads(self.defs[root].selection_set))))]
            visiting.add(root)
            while stack:
                name, deps = stack[-1]
                dep = next(deps, None)
                if dep is None:
                    stack.pop()
                    visiting.discard(name)
                    self.fragments[name] = self.selection(self.defs[name].selection_set)
                elif dep in self.defs and dep not in self.fragments and dep not in visiting:
                    visiting.add(dep)
                    stack.append((dep, iter(list(_spreads(self.defs[dep].selection_set)))))


def _spreads(selections: SelectionSetNode | None) -> Iterator[str]:
    """The fragments a selection set spreads, at any nesting (bounded by ``MAX_NESTING``)."""
    for sel in selections.selections if selections else ():
        if isinstance(sel, FragmentSpreadNode):
            yield sel.name.value
        elif isinstance(sel, FieldNode | InlineFragmentNode):
            yield from _spreads(sel.selection_set)


def measure(document: DocumentNode) -> Cost:
    """The cost of all the document's operations together, fragments expanded."""
    m = _Measure(document)
    total = Cost()
    for d in document.definitions:
        if isinstance(d, OperationDefinitionNode):
            total = total.beside(m.selection(d.selection_set)[0])
    return total


def check_document(document: DocumentNode) -> None:
    cost = measure(document)
    if cost.depth > MAX_DEPTH:
        raise too_complex(f"The query nests fields {cost.depth} deep; at most {MAX_DEPTH}.")
    if cost.aliases > MAX_ALIASES:
        raise too_complex(
            f"The query has {cost.aliases} aliases (fragments expanded); at most {MAX_ALIASES}."
        )
    if cost.fields > MAX_FIELDS:
        raise too_complex(
            f"The query asks for {cost.fields} fields (fragments expanded); at most {MAX_FIELDS}."
        )
    if cost.repeats > MAX_REPEATS:
        raise too_complex(
            f"The query asks for one field {cost.repeats} times in one selection; at most "
            f"{MAX_REPEATS}."
        )


def _parse(query: str) -> DocumentNode:
    check_text(query)
    document = parse(query)
    check_document(document)
    return document


def _validate(execution_context: ExecutionContext) -> list[GraphQLError]:
    assert execution_context.graphql_document is not None
    return validate_document(
        execution_context.schema._schema,
        execution_context.graphql_document,
        execution_context.validation_rules,
    )


# Parsing and validating run here, off the event loop: bounded as they are, a stream of large
# documents would still hold the loop that every other request needs. Two threads: GraphQL
# documents wait for each other rather than take the CPU from everything else.
_WORKERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="gql-check")


async def _off_loop(fn: Callable[[T], R], arg: T) -> R:
    return await asyncio.get_running_loop().run_in_executor(_WORKERS, fn, arg)


class QueryLimits(SchemaExtension):
    """Parses and validates (steps 2 to 4 of the module's list) in a worker thread; strawberry
    then finds the document parsed and the errors set, and does neither on the loop."""

    async def on_parse(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is None and ctx.query is not None:
            ctx.graphql_document = await _off_loop(_parse, ctx.query)
        yield

    async def on_validate(self) -> AsyncIterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is not None and ctx.pre_execution_errors is None:
            ctx.pre_execution_errors = await _off_loop(_validate, ctx)
        yield
