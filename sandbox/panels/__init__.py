"""Local stand-ins for the VPN panels the gateway drives: Outline and Remnawave."""
