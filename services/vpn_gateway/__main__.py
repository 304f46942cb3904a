from common.lifecycle.entry import main

main("vpn_gateway")
