"""Languages: detection, translation engines and the router that picks (and pivots) between them."""
