"""Retrofit Programme Planner: the server (`streamlit run app/main.py`, `make run`).

It serves the app of `app/navigation.py`, and beside it the files its pages hand to the
browser by URL (`app/served.py`: the map's polygons and boundaries); Streamlit's own
front-end files come from memory (`served.FrontEndFiles`), and every connection sends at
once (`served.NoDelay`). Before serving the first visitor it imports what the pages use and
opens the database; then it reads the newest runs into the shared caches in the background
(`app/warmup.py`), so the first pages open at once.
"""

import streamlit as st
from starlette.middleware import Middleware

from app.served import ROUTES, FrontEndFiles, NoDelay
from app.warmup import lifespan

app = st.App("navigation.py", lifespan=lifespan, routes=ROUTES,
             middleware=[Middleware(NoDelay), Middleware(FrontEndFiles)])
