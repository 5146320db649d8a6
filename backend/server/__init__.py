"""The backend server: broker (ZeroMQ ROUTER), on-disk job store, worker processes."""
