// The way back keeps initData, which the app carries in the URL's fragment.
"use strict";
document.getElementById("back").href = "./" + location.hash;
