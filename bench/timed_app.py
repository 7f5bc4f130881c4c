"""app.py with a stopwatch: bench_app.py reads each run's script time from session state."""

import time

import streamlit as st

from explorer.ui import main

st.set_page_config(page_title="Autograd Explorer", layout="wide")
start = time.perf_counter()
main()
st.session_state.setdefault("_bench_times", []).append(time.perf_counter() - start)
