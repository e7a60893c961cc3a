"""manager/api"""
