"""Dantzig's transportation problem (1963; the GAMS TRNSPORT model) as test data: two plants,
three markets, distances in thousand miles, freight 90 USD per case per thousand miles; the
published optimum is 153.675 thousand USD."""

CITIES = {"seattle": (-122.33, 47.61), "san-diego": (-117.16, 32.72),
          "new-york": (-74.0, 40.71), "chicago": (-87.63, 41.88), "topeka": (-95.68, 39.05)}
SUPPLY = {"seattle": 350, "san-diego": 600}
DEMAND = {"new-york": 325, "chicago": 300, "topeka": 275}
THOUSAND_MILES = {("seattle", "new-york"): 2.5, ("seattle", "chicago"): 1.7,
                  ("seattle", "topeka"): 1.8, ("san-diego", "new-york"): 2.5,
                  ("san-diego", "chicago"): 1.8, ("san-diego", "topeka"): 1.4}
