"""login"""
