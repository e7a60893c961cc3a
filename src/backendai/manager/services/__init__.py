"""manager/services"""
