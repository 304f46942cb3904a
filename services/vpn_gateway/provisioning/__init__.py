"""Working off the activation outbox: the worker, what one row does on a panel, bulk reissue."""
