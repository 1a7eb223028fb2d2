"""miner package of hardmine."""
