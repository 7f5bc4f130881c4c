"""The baseline for bench_app.py: the barest Streamlit app with one slider and one st.code."""

import streamlit as st

value = st.slider("x", min_value=-5.0, max_value=5.0, value=-5.0, step=0.1, key="value_x")
with st.container(key="transcript"):
    # Printed as the explorer prints x, so bench/load.py checks its reruns the same way.
    st.code(f"x: tensor({value:.4f})", language=None)
