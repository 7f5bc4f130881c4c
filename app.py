"""Autograd Explorer: the Streamlit page. Run it with `make run` or `streamlit run app.py`."""

import streamlit as st

from explorer.ui import main

st.set_page_config(
    page_title="Autograd Explorer",
    page_icon=":material/account_tree:",
    layout="wide",
    # A fixed width (in px) keeps the sidebar open and leaves the graph the rest of the screen.
    initial_sidebar_state=280,
)
main()
