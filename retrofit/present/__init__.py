"""What the app shows, computed without Streamlit: views of plans and runs, the scenario form,
and how numbers are written (£m, tCO2, homes)."""
