console.log("ds")
