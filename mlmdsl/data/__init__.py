"""Data: read a table, code its levels, check it against the model, bind it for Stan."""

from mlmdsl.data.bind import DROPPED_ROWS, BoundData, bind
from mlmdsl.data.messages import DataError
from mlmdsl.data.read import read_table

__all__ = ["DROPPED_ROWS", "BoundData", "DataError", "bind", "read_table"]
