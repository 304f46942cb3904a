from common.lifecycle.entry import main

main("bot")
