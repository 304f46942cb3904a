"""SQL of vpn_gateway: accounts, the activation outbox as the worker works it, bulk jobs."""
