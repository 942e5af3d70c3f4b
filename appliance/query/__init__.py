"""Arkime's search expression language over the SQLite session store.

``parse`` (parser.py) builds the tree, ``Compiler`` (compile.py) turns it into parameterised
SQL, ``Searcher`` (search.py) runs it with time bounds and a time limit.
"""

from appliance.query.compile import Compiler
from appliance.query.parser import QueryError, parse
from appliance.query.search import QueryTimeout, Searcher, TimeRange

__all__ = ["Compiler", "QueryError", "QueryTimeout", "Searcher", "TimeRange", "parse"]
