"""Retrofit Programme Planner: the server (`streamlit run app/main.py`, `make run`).

It serves the app of `app/navigation.py`, and beside it the files its pages hand to the
browser by URL (`app/served.py`: the map's polygons and boundaries); Streamlit's own
front-end files come from memory (`served.FrontEndFiles`), and every connection sends at
once (`served.NoDelay`). Before serving the first visitor it imports what the pages use and
opens the database; then it reads the newest runs into the shared caches in the background
(`app/warmup.py`), so the first pages open at once.

It does not start when the sign-in settings are unsafe (`settings.refuse_to_start_unless_safe`),
nor beside a `pages/` folder: Streamlit would serve each file there by its URL without the
navigation's sign-in gate (the pages live in `app/screens/`).
"""

import sys
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware

from app.settings import refuse_to_start_unless_safe
from app.served import ROUTES, FrontEndFiles, NoDelay
from app.warmup import lifespan

if (Path(__file__).parent / "pages").exists():
    print(f"error: {Path(__file__).parent / 'pages'} exists: Streamlit would serve each file in it by URL, past "
          f"the sign-in; pages belong in app/screens/ (listed in app/navigation.py)", file=sys.stderr, flush=True)
    raise SystemExit(2)
refuse_to_start_unless_safe()

app = st.App("navigation.py", lifespan=lifespan, routes=ROUTES,
             middleware=[Middleware(NoDelay), Middleware(FrontEndFiles)])
