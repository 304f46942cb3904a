"""What vpn_gateway answers over RPC, and the usage cache behind USAGE."""
