"""Every SQL statement of the payments service. Functions take a connection, so the caller
decides the transaction; nothing here opens one."""
