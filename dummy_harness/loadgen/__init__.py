"""Everything that talks to LoadGen: settings, the sample store (QSL) and the SUT."""
