"""manager/db"""
