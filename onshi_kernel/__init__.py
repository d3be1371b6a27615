"""What several onshi packages need and none of them owns. Imports none of them."""
