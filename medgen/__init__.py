"""medgen."""
