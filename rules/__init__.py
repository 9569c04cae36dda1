"""Hold rules (blocks), risk signals, held orders, decisions and backtests."""
