"""The monthly report (月报): the figures, the colleges' desk, the export and the report itself."""
