"""The CM GUI's script page, run from an intact copy of the GUI with plain Streamlit (no `cmr "cm gui"`):

    CM_GUI_SCRIPT_TAGS="reproduce mlperf inference dummy loadgen-dummy" streamlit run scripts/cm_gui_app.py

The GUI is CM4MLOps' script/gui (mlcommons/cm4mlops, last compiling at 7cd929d; the copy cmx4mlops 1.0.1 ships does
not compile). CM_GUI_PATH names a folder holding it as script/gui (a cm4mlops checkout, or the copy CI keeps beside
this checkout, the default: ../shared/third_party/cm4mlops-gui). The page lists the scripts of $CM_REPOS that carry
CM_GUI_SCRIPT_TAGS; it shows one only when exactly one matches. Used by tests/integration/test_cm_gui.py (through
Streamlit's AppTest) and scripts/cm-gui-screenshot.sh.
"""
import os
import sys
from pathlib import Path

import streamlit as st

ROOT = Path(__file__).resolve().parent.parent
gui = Path(os.environ.get("CM_GUI_PATH") or ROOT.parent / "shared" / "third_party" / "cm4mlops-gui") / "script" / "gui"
if not (gui / "app.py").is_file():
    st.error(f"no CM GUI at {gui}: set CM_GUI_PATH to a checkout of mlcommons/cm4mlops (commit 7cd929d)")
    st.stop()
sys.path.insert(0, str(gui))
# The GUI imports its modules by plain names (app, script, misc, ...). In a process that already holds modules of
# those names (CM's own `script` automation module, under AppTest in the test process) the GUI would get those.
for name in [p.stem for p in gui.glob("*.py")]:
    module = sys.modules.get(name)
    if module is not None and Path(getattr(module, "__file__", "") or "").parent != gui:
        del sys.modules[name]
import app  # noqa: E402  (the GUI's own app.py, found through the path above)

app.main()
