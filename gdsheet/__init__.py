"""gdsheet: gradient descent in a spreadsheet, with proof that Python and the spreadsheet agree."""

__version__ = "0.1.0"
