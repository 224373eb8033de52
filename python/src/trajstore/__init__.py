"""trajstore's Python client: log agent trajectories to a trajstore server from a training
loop or an evaluation as they are produced, and read them back as dicts, DataFrames or
Arrow tables.

    from trajstore import Client
    client = Client("http://127.0.0.1:8000")
    client.log({"trajectory_id": "run-7/step-3/0", "steps": [...], "reward": 1.0})
"""

from ._sender import SendCounts, SendError
from .client import Client
from .errors import TrajstoreError

__all__ = ["Client", "SendCounts", "SendError", "TrajstoreError"]
__version__ = "0.1.0"
