"""The playground: backpropagation you can watch and click, in the browser, on chainrule."""
