"""Local stand-ins for the VPN panels the gateway drives: Outline, Remnawave, Marzban and 3x-ui."""
